"""A dark, neutral theme (Fusion + palette + a little QSS) so photos, not chrome, stand out."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

ACCENT = "#3d8ef0"

STYLE = f"""
QMainWindow, QDialog {{ background: #2b2b2e; }}
QToolBar {{ background: #323236; border: none; spacing: 4px; padding: 3px; }}
QToolBar#tools {{ border-right: 1px solid #1e1e20; }}
QToolButton {{ color: #e6e6e6; border-radius: 4px; padding: 4px; }}
QToolButton:hover {{ background: #45454a; }}
QToolButton:checked {{ background: {ACCENT}; }}
QDockWidget::title {{ background: #323236; padding: 6px; font-weight: 600; }}
QTabWidget::pane {{ border: none; }}
QTabBar {{ qproperty-drawBase: 0; }}
QTabBar::tab {{ background: #323236; color: #bbb; padding: 6px 18px; border: none; }}
QTabBar::tab:selected {{ background: #1e1e20; color: white; }}
QPushButton {{ background: #45454a; color: #eee; border: 1px solid #55555b; border-radius: 4px; padding: 5px 12px; }}
QPushButton:hover {{ background: #505056; }}
QPushButton:disabled {{ color: #777; background: #38383c; }}
QPushButton#primary {{ background: {ACCENT}; border-color: {ACCENT}; color: white; font-weight: 600; }}
QPushButton#primary:disabled {{ background: #2f4a6b; border-color: #2f4a6b; color: #9ab; }}
QProgressBar {{ background: #1e1e20; border: none; border-radius: 2px; }}
QProgressBar::chunk {{ background: {ACCENT}; border-radius: 2px; }}
QFrame#resultPanel {{ background: #252528; border: 2px solid #252528; border-radius: 4px; }}
QFrame#resultPanel[selected="true"] {{ border-color: {ACCENT}; }}
QLabel#panelTitle {{ font-weight: 600; color: white; }}
QLabel#panelInfo {{ color: #aaa; padding-left: 8px; }}
QLabel#panelInfo[error="true"] {{ color: #ff7a7a; }}
QLabel#hint {{ color: #999; }}
QLabel#beforeBadge {{ background: #f0b43d; color: #1e1e20; border-radius: 3px; padding: 0 6px; font-weight: 600; }}
QLabel#methodStatus {{ color: #aaa; }}
QStatusBar {{ background: #323236; color: #ccc; }}
QStatusBar QLabel {{ color: #ccc; padding: 0 8px; }}
"""


def apply_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    pal = QPalette()
    for role, color in {
        QPalette.ColorRole.Window: "#2b2b2e", QPalette.ColorRole.WindowText: "#e6e6e6",
        QPalette.ColorRole.Base: "#1e1e20", QPalette.ColorRole.AlternateBase: "#2b2b2e",
        QPalette.ColorRole.Text: "#e6e6e6", QPalette.ColorRole.Button: "#3a3a3e",
        QPalette.ColorRole.ButtonText: "#e6e6e6", QPalette.ColorRole.Highlight: ACCENT,
        QPalette.ColorRole.HighlightedText: "#ffffff", QPalette.ColorRole.ToolTipBase: "#1e1e20",
        QPalette.ColorRole.ToolTipText: "#e6e6e6", QPalette.ColorRole.PlaceholderText: "#888888",
    }.items():
        pal.setColor(role, QColor(color))
    pal.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor("#777"))
    pal.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText, QColor("#777"))
    app.setPalette(pal)
    app.setStyleSheet(STYLE)

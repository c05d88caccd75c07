"""Every action of the main window, declared once: text, shortcuts, icon, tip, what it calls, where it goes.

`build_actions` makes the QActions (the window exposes each as `<id>_action`), `build_menus` and
`fill_toolbar` place them. A place is `<menu or toolbar>/<group>`: each menu and toolbar lists its actions in
the table's order, with a separator between groups, so the actions of one group stand together here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu, QMenuBar, QToolBar, QWidget

from contextfill.app.paths import icon
from contextfill.app.tools import Tool

K = QKeySequence.StandardKey
MENUS = {"file": "&File", "edit": "&Edit", "tools": "&Tools", "view": "&View", "help": "&Help"}
TOOLBARS = ("toolbox", "options")  # the tool column on the left, the options row on top


@dataclass(frozen=True)
class ActionSpec:
    id: str
    text: str
    slot: str  # the window method it calls with `args`; "" for undo/redo, which QUndoStack makes
    shortcuts: tuple = ()  # QKeySequence.StandardKey values or key strings; the first is shown in tips
    icon: str = ""
    tip: str = ""  # default: the text
    places: tuple[str, ...] = ()
    args: tuple[Any, ...] = ()
    checkable: bool = False


def _tool(tool: Tool, key: str, icon_name: str, tip: str) -> ActionSpec:
    return ActionSpec(tool.name.lower(), tool.value, "set_tool", (key,), icon_name, tip,
                      ("tools/tools", "toolbox/tools"), (tool,), checkable=True)


ACTIONS = (
    ActionSpec("open", "&Open…", "open_dialog", (K.Open,), "open", places=("file/open", "options/file")),
    ActionSpec("paste", "&Paste image", "paste", (K.Paste,), tip="Paste an image, or a copied image file",
               places=("file/open",)),
    ActionSpec("save", "&Save", "save", (K.Save,), "save", places=("file/save", "options/file")),
    ActionSpec("save_as", "Save &As…", "save_as", (K.SaveAs,), places=("file/save",)),
    ActionSpec("quit", "&Quit", "close", (K.Quit,), places=("file/quit",)),
    ActionSpec("undo", "&Undo", "", (K.Undo,), "undo", places=("edit/undo", "options/undo")),
    ActionSpec("redo", "&Redo", "", ("Ctrl+Shift+Z", "Ctrl+Y"), "redo", places=("edit/undo", "options/undo")),
    ActionSpec("clear", "Clear mask", "clear_mask", ("Ctrl+Shift+A",), "clear",
               places=("edit/mask", "toolbox/mask")),
    ActionSpec("invert", "Invert mask", "invert_mask", ("Ctrl+I",), "invert", places=("edit/mask", "toolbox/mask")),
    ActionSpec("grow", "Grow mask", "grow_mask", ("Ctrl+Shift+=",), "grow", places=("edit/mask", "toolbox/mask")),
    ActionSpec("shrink", "Shrink mask", "shrink_mask", ("Ctrl+Shift+-",), "shrink",
               places=("edit/mask", "toolbox/mask")),
    ActionSpec("clear_sampling", "Clear sampling area", "clear_sampling",
               tip="Clear the sampling area: fills copy from around the hole again", places=("edit/mask",)),
    _tool(Tool.BRUSH, "B", "brush", "Brush: paint what should go"),
    _tool(Tool.RECT, "M", "rectangle", "Rectangle: drag a box (Alt erases)"),
    _tool(Tool.ERASER, "E", "eraser", "Eraser: remove mask"),
    _tool(Tool.SAMPLE, "S", "sample", "Sampling brush: paint where the fill may copy from (Alt erases)"),
    ActionSpec("brush_smaller", "Smaller brush", "step_brush", ("[",), places=("tools/brush",), args=(-1,)),
    ActionSpec("brush_larger", "Larger brush", "step_brush", ("]",), places=("tools/brush",), args=(1,)),
    ActionSpec("fill", "&Fill", "start_fill", ("Ctrl+Return", "Ctrl+Enter"), "fill",
               "Fill the masked area with each chosen method", places=("tools/fill",)),
    ActionSpec("variations", "Fill &variations", "start_variations", ("Ctrl+Shift+Return", "Ctrl+Shift+Enter"),
               tip="Fill again with new seeds and compare the results", places=("tools/fill",)),
    ActionSpec("cancel", "Cancel fill", "cancel_fill", ("Esc",), places=("tools/fill",)),
    ActionSpec("batch", "&Batch fill folder…", "open_batch_dialog", places=("tools/more",)),
    ActionSpec("train", "Fine-&tune on my photos…", "open_train_wizard", places=("tools/more",)),
    ActionSpec("fit", "&Fit", "fit", ("Ctrl+0",), "fit", places=("view/zoom", "options/view")),
    ActionSpec("actual", "&100%", "actual_size", ("Ctrl+1",), "actual", places=("view/zoom", "options/view")),
    ActionSpec("zoom_in", "Zoom &in", "zoom_in", (K.ZoomIn,), places=("view/zoom",)),
    ActionSpec("zoom_out", "Zoom &out", "zoom_out", (K.ZoomOut,), places=("view/zoom",)),
    ActionSpec("settings", "&Settings…", "open_settings", (K.Preferences,), "settings",
               places=("edit/settings", "options/view")),
    ActionSpec("shortcuts", "&Keyboard shortcuts", "show_shortcuts", (K.HelpContents,), places=("help/help",)),
    ActionSpec("about", "&About ContextFill", "show_about", places=("help/help",)),
    ActionSpec("logs", "Show &log folder", "show_log_folder", places=("help/help",)),
)


def _caller(fn: Callable, args: tuple) -> Callable[[bool], None]:
    """`triggered(checked)` -> fn(*args): the GUI thread's own signal, so a plain function is fine."""

    def call(_checked: bool = False) -> None:
        fn(*args)

    return call


def build_actions(window: QWidget, made: dict[str, QAction]) -> dict[str, QAction]:
    """A QAction per spec, connected to the window's method; `made` holds those made elsewhere (undo, redo)."""
    actions = {}
    for spec in ACTIONS:
        action = made.get(spec.id) or QAction(spec.text, window)
        if spec.icon:
            action.setIcon(icon(spec.icon))
        action.setShortcuts([QKeySequence(s) for s in spec.shortcuts])
        action.setCheckable(spec.checkable)
        tip = spec.tip or spec.text.replace("&", "").replace("…", "")
        if spec.shortcuts:
            tip += f" ({action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)})"
        action.setToolTip(tip)
        action.setStatusTip(tip)
        if spec.slot:
            action.triggered.connect(_caller(getattr(window, spec.slot), spec.args))
        window.addAction(action)
        actions[spec.id] = action
    return actions


def tool_actions(actions: dict[str, QAction]) -> dict[Tool, QAction]:
    return {spec.args[0]: actions[spec.id] for spec in ACTIONS if spec.slot == "set_tool"}


def _place(target: QMenu | QToolBar, place: str, actions: dict[str, QAction]) -> None:
    group = None
    for spec in ACTIONS:
        for where in spec.places:
            name, _, in_group = where.partition("/")
            if name != place:
                continue
            if group is not None and in_group != group:
                target.addSeparator()
            target.addAction(actions[spec.id])
            group = in_group


def build_menus(bar: QMenuBar, actions: dict[str, QAction]) -> dict[str, QMenu]:
    menus = {}
    for name, title in MENUS.items():
        menus[name] = bar.addMenu(title)
        _place(menus[name], name, actions)
    return menus


def fill_toolbar(toolbar: QToolBar, name: str, actions: dict[str, QAction]) -> None:
    _place(toolbar, name, actions)


def shortcut_rows(actions: dict[str, QAction]) -> list[tuple[str, str]]:
    """(what, keys) for every action with a shortcut, in menu order, for Help > Keyboard shortcuts."""
    rows = []
    for spec in ACTIONS:
        keys = [k.toString(QKeySequence.SequenceFormat.NativeText) for k in actions[spec.id].shortcuts()]
        if keys:
            rows.append((spec.text.replace("&", "").replace("…", ""), " or ".join(keys)))
    return rows

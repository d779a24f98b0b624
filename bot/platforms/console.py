"""The console platform: one exchange (`kpibot chat`) or an interactive prompt (`kpibot demo`).

Images are written as PNG files under the charts folder and shown as their path. A file a card comes with (an
export) is written into the current folder (or `files_dir`) under its own name, never over an existing file
(kpibot-2026-11-1.xlsx, -2, ... instead), and shown as its path.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from bot.dispatch import Dispatcher, Incoming, StoreBusy
from cards.model import Card, File
from cards.render_text import render_text


class Console:
    def __init__(self, dispatcher: Dispatcher, charts_dir: Path, out: TextIO, files_dir: Path | None = None) -> None:
        self.dispatcher, self.charts_dir, self.out = dispatcher, charts_dir, out
        self.files_dir = files_dir     # None: the current folder at the time a file is written

    def write_images(self, card: Card) -> dict[str, str]:
        paths = {}
        for image in card.images():
            self.charts_dir.mkdir(parents=True, exist_ok=True)
            path = self.charts_dir / f"chart-{image.key[:16]}.png"
            if not path.exists():
                path.write_bytes(image.png)
            paths[image.key] = str(path)
        return paths

    def write_files(self, card: Card) -> dict[str, str]:
        """Each file of the card written to a new file (0600: an export holds pay data); its name -> the path."""
        folder = self.files_dir if self.files_dir is not None else Path.cwd()
        return {b.name: str(write_new(folder, b.name, b.content)) for b in card.blocks if isinstance(b, File)}

    def exchange(self, user_id: str, text: str) -> tuple[Card | None, dict[str, str]]:
        try:
            card = self.dispatcher.handle_message(Incoming("console", user_id, text))
        except StoreBusy:
            card = self.dispatcher.busy_card()
        if card is None:
            return None, {}
        paths = self.write_images(card)
        self.out.write(render_text(card, paths, self.write_files(card)))
        return card, paths

    def repl(self, user_id: str, read: Callable[[str], str] = input) -> None:
        self.out.write(
            f"kpibot console — you are {user_id}. Type /help, ':as <member-id>' to switch user, ':quit' to leave.\n"
        )
        while True:
            try:
                line = read(f"{user_id}> ").strip()
            except (EOFError, KeyboardInterrupt):
                self.out.write("\n")
                return
            if line in (":quit", ":q", "exit", "quit"):
                return
            if line.startswith(":as "):
                user_id = line[4:].strip() or user_id
                self.out.write(f"you are now {user_id}\n")
                continue
            if line:
                self.exchange(user_id, line)


def write_new(folder: Path, name: str, content: bytes) -> Path:
    """Write `content` to folder/name, or to name-1, name-2, ... when that exists: an existing file is never
    overwritten (O_EXCL, so not even by a second kpibot writing at the same moment)."""
    folder.mkdir(parents=True, exist_ok=True)
    base = Path(name).name or "kpibot-file"     # a name, never a path
    stem, dot, ext = base.rpartition(".")
    if not (dot and stem):
        stem, dot, ext = base, "", ""
    n = 0
    while True:
        path = folder / (base if n == 0 else f"{stem}-{n}{dot}{ext}")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            n += 1
            continue
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        return path

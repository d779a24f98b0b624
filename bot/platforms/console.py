"""The console platform: one exchange (`kpibot chat`) or an interactive prompt (`kpibot demo`).

Images are written as PNG files under the charts folder and shown as their path.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from bot.dispatch import Dispatcher, Incoming, StoreBusy
from cards.model import Card
from cards.render_text import render_text


class Console:
    def __init__(self, dispatcher: Dispatcher, charts_dir: Path, out: TextIO) -> None:
        self.dispatcher, self.charts_dir, self.out = dispatcher, charts_dir, out

    def write_images(self, card: Card) -> dict[str, str]:
        paths = {}
        for image in card.images():
            self.charts_dir.mkdir(parents=True, exist_ok=True)
            path = self.charts_dir / f"chart-{image.key[:16]}.png"
            if not path.exists():
                path.write_bytes(image.png)
            paths[image.key] = str(path)
        return paths

    def exchange(self, user_id: str, text: str) -> tuple[Card | None, dict[str, str]]:
        try:
            card = self.dispatcher.handle_message(Incoming("console", user_id, text))
        except StoreBusy:
            card = self.dispatcher.busy_card()
        if card is None:
            return None, {}
        paths = self.write_images(card)
        self.out.write(render_text(card, paths))
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

"""A bus process hosting one test member (bus/hosted.py), run as `python hosted_echo.py <bus args>`.

The member "echo" takes "ping." deliveries and publishes each payload again on "pong."; a payload
b"boom" makes it raise (the bus records the failure, bus/run_contract.py); when stopped it
publishes "bye." once.
"""

from __future__ import annotations

import sys

from bus.__main__ import main
from bus.api import MemberLink


class Echo:
    name = "echo"

    def prefixes(self) -> list[str]:
        return ["ping."]

    def start(self, link: MemberLink) -> None:
        pass

    def handle(self, messages: list[tuple[str, bytes]], link: MemberLink) -> None:
        for _topic, payload in messages:
            if payload == b"boom":
                raise RuntimeError("echo blew up on purpose")
            link.publish("pong.", payload)
        link.ack()

    def tick(self, link: MemberLink) -> None:
        pass

    def stop(self, link: MemberLink) -> None:
        link.publish("bye.", b"")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], hosted=[Echo()]))

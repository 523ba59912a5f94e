"""A deliberately slow step for the kill-and-resume test (imported by path in a subprocess)."""

import time

from datamill.pipeline import Mapper


class SlowStep(Mapper):
    def __init__(self, *, seconds: float = 0.01) -> None:
        self.seconds = seconds

    def apply(self, rec):
        time.sleep(self.seconds)
        return rec

"""The one rounding source for every number BrainLens writes out.

The PDF report, the CSV/JSON writers and the audit log all round probabilities here, so a
confidence printed in a report is digit-for-digit the one in the CSV next to it
(0.8734 in the CSV is "87.34 %" in the PDF, never "87.3 %" from a second rounding of the raw float).
"""

from __future__ import annotations

import math

PROBABILITY_DECIMALS = 4


def round_probability(p: float | None) -> float | None:
    """A probability in [0, 1] rounded to PROBABILITY_DECIMALS; None (or NaN) stays None."""
    if p is None:
        return None
    value = float(p)
    if math.isnan(value):
        return None
    return round(min(max(value, 0.0), 1.0), PROBABILITY_DECIMALS)


def format_probability(p: float | None) -> str:
    """The CSV text of a probability: "0.8734"; "" when absent."""
    value = round_probability(p)
    return "" if value is None else f"{value:.{PROBABILITY_DECIMALS}f}"


def format_percent(p: float | None, missing: str = "—") -> str:
    """The report text of a probability: "87.34 %" (the CSV's digits, shifted two places). As on the
    screen, rounding never claims certainty: a value below 1 that the CSV rounds to 1.0000 is
    "> 99.99 %", one above 0 that it rounds to 0.0000 is "< 0.01 %"."""
    value = round_probability(p)
    if value is None or p is None:
        return missing
    decimals = PROBABILITY_DECIMALS - 2
    step = 10.0 ** -decimals
    if value == 1.0 and float(p) < 1.0:
        return f"> {100.0 - step:.{decimals}f} %"
    if value == 0.0 and float(p) > 0.0:
        return f"< {step:.{decimals}f} %"
    return f"{value * 100:.{decimals}f} %"


def format_percent_short(p: float | None, decimals: int = 1, missing: str = "—") -> str:
    """A probability for the screen: "87.3 %"; never "100.0 %" or "0.0 %" for a value that is not
    exactly 1 or 0 ("> 99.9 %", "< 0.1 %"), so rounding does not claim certainty."""
    if p is None:
        return missing
    value = float(p)
    if math.isnan(value):
        return missing
    value = min(max(value, 0.0), 1.0)
    step = 10.0 ** -decimals
    top, bottom = 100.0 - step, step
    if value < 1.0 and round(value * 100, decimals) > top:
        return f"> {top:.{decimals}f} %"
    if value > 0.0 and round(value * 100, decimals) < bottom:
        return f"< {bottom:.{decimals}f} %"
    return f"{value * 100:.{decimals}f} %"

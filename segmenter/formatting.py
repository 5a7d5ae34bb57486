"""Figures for people, the same in the terminal and in the HTML report."""

__all__ = ["money"]


def money(amount: float) -> str:
    """Dollars the way a sales team reads them. The unit is chosen after rounding, so that $999,960,
    which rounds to 1,000.0 thousand, is "$1.0M".

    Examples:
        >>> money(950), money(12_500), money(999_960), money(4_140_000), money(-2_500)
        ('$950', '$12.5K', '$1.0M', '$4.1M', '-$2.5K')
    """
    sign, amount = ("-" if amount < 0 else ""), abs(amount)
    if round(amount) < 1000:
        return f"{sign}${amount:,.0f}"
    for size, suffix in ((1e3, "K"), (1e6, "M")):
        if round(amount / size, 1) < 1000:
            return f"{sign}${amount / size:,.1f}{suffix}"
    return f"{sign}${amount / 1e9:,.1f}B"

"""How segments and money are shown to people, the same in the terminal, the HTML report and the live dashboard:
one colour per segment (by its place in the model, matplotlib's tab10, or tab20 past ten segments) and dollars as
a sales team reads them. Plain values, so that the worker's dashboard needs no plotting library."""

__all__ = ["SEGMENT_COLOURS", "SEGMENT_COLOURS_MANY", "money", "segment_colours"]

# matplotlib's "tab10" and "tab20" qualitative palettes, as hex (tests/unit/test_formatting.py checks them).
SEGMENT_COLOURS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip
SEGMENT_COLOURS_MANY = (
    "#1f77b4", "#aec7e8", "#ff7f0e", "#ffbb78", "#2ca02c", "#98df8a", "#d62728", "#ff9896", "#9467bd", "#c5b0d5",
    "#8c564b", "#c49c94", "#e377c2", "#f7b6d2", "#7f7f7f", "#c7c7c7", "#bcbd22", "#dbdb8d", "#17becf", "#9edae5",
)  # fmt: skip


def segment_colours(k: int) -> tuple[str, ...]:
    """The colours of a model's `k` segments, by place; a place past the palette's end takes its colour again.

    Examples:
        >>> segment_colours(3)
        ('#1f77b4', '#ff7f0e', '#2ca02c')
        >>> segment_colours(12)[:3], len(segment_colours(25)), segment_colours(25)[20]
        (('#1f77b4', '#aec7e8', '#ff7f0e'), 25, '#1f77b4')
    """
    palette = SEGMENT_COLOURS if k <= len(SEGMENT_COLOURS) else SEGMENT_COLOURS_MANY
    return tuple(palette[i % len(palette)] for i in range(k))


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

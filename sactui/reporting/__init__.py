"""Drawing the review: the terminal report (plotext) and the self-contained HTML file (plotly).

The data comes from ``trader_core.review``; this layer only lays it out, so the numbers a
person reads in the terminal, in the browser and in the console's sessions screen are the
same numbers.
"""

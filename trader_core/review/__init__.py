"""Looking back at sessions: which ran, how they went, and whether live did what the model would have.

Pure data, no plotting (the command line draws): ``sessions`` indexes every session of a
run across modes from the files they left, ``report`` turns one session's journal into
curves and figures against buy-and-hold over the same candles (``benchmark``), and
``audit`` replays a session's own candles through the backtest engine and compares it
with the journal row by row, explaining every difference.
"""

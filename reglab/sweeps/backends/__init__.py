"""Where a sweep's trials run: ``local`` worker processes, one ``vectorized``
stacked model per architecture, or ``ray`` (Ray Tune, imported only when used).

Each backend takes the trials and an ``on_result(row)`` callback that stores a
row the moment its trial finishes."""

-- Request counts per key in fixed windows (the hosted pages' per-IP
-- throttle when instances share a store). Same conventions as 0001:
-- STRICT, times as fixed-width UTC TEXT. A window is named by its start.

CREATE TABLE rate_hits (
	key          TEXT    NOT NULL,
	window_start TEXT    NOT NULL,
	count        INTEGER NOT NULL CHECK (count > 0),
	PRIMARY KEY (key, window_start)
) STRICT, WITHOUT ROWID;

CREATE INDEX rate_hits_window_start ON rate_hits (window_start);

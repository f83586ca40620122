-- Request counts per key in fixed windows (the hosted pages' per-IP
-- throttle shared by every instance on this database). A window is named
-- by its start.

CREATE TABLE rate_hits (
	key          text COLLATE "C" NOT NULL,
	window_start timestamptz      NOT NULL,
	count        bigint           NOT NULL CHECK (count > 0),
	PRIMARY KEY (key, window_start)
);

CREATE INDEX rate_hits_window_start ON rate_hits (window_start);

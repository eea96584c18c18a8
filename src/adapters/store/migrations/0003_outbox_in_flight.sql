-- When a delivery attempt started; cleared with its result. Still set at start-up means the
-- attempt's outcome is unknown (Guichet was killed mid-send): the mail is sent again.
ALTER TABLE outbox ADD COLUMN in_flight_since INTEGER;

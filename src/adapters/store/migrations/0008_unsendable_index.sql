-- Outgoing mail that could not be rendered: `guichet status` counts it without scanning events.
CREATE INDEX events_mail_not_rendered ON events(id) WHERE kind = 'mail_not_rendered';

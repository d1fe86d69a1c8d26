-- outbox_queue (channel, whether a notice's delivery, id) of pending rows has had no reader
-- since the delivery pass reads each chat's queue head from outbox_heads (migrations 0019 and
-- 0028); every message written and every outcome recorded still paid for keeping it.
DROP INDEX outbox_queue;

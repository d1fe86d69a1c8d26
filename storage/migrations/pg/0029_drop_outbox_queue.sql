-- outbox_queue has had no reader since the delivery pass reads the queues' heads from
-- outbox_heads (see ../0029_drop_outbox_queue.sql).
DROP INDEX outbox_queue;

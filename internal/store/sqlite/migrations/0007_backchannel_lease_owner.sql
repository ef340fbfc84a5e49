-- The worker holding a back-channel delivery's lease: only it may record the
-- attempt's outcome on the delivery.
ALTER TABLE backchannel_deliveries ADD COLUMN lease_owner TEXT NOT NULL DEFAULT '';

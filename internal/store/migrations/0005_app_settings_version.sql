-- 0005_app_settings_version: a counter of the app's settings, bumped by
-- every settings write (UpdateApp, SetAppSuspended). UpdateApp writes only
-- if it still holds the version it read, so two edits of the same app
-- cannot silently undo each other (nor a suspension an operator made
-- meanwhile). Runtime writes (status, port) leave it alone.
ALTER TABLE apps ADD COLUMN settings_version BIGINT NOT NULL DEFAULT 0;

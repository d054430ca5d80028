-- The address a client was last seen from: the Operations Console's client list shows it
-- (RemoteClient.ip_address). Only the latest one is kept, like the other device details.
alter table telemetry_clients add column ip_address text;

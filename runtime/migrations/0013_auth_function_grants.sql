-- The SECURITY DEFINER functions of auth, limits and metering are for the runtime role only:
-- take EXECUTE away from PUBLIC (functions get it by default). `migrate` grants EXECUTE on every
-- function of schema public to the runtime role after applying the files.
revoke all on function public.auth_tenant_for(text, text) from public;
revoke all on function public.rate_limit_hit(text, integer, double precision, double precision) from public;
revoke all on function public.rate_limit_sweep(interval) from public;
revoke all on function public.usage_by_tenant(date, date) from public;

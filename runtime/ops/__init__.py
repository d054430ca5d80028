"""The Operations Console's system pages: dashboard stats, model servers, host metrics and their
history, the GPU fleet's idle policy and power profiles, and the services an admin can start and stop."""

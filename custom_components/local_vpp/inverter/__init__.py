"""What some inverters offer beyond the common set: a hybrid PCS, immediate controls."""

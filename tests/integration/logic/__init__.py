"""The integration's plain-Python logic, tested without Home Assistant or sockets."""

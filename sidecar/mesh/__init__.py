"""The building's members and the links between their nodes: roster, peers, replicas."""

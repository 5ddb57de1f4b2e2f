"""Providers: the code behind each kind of node, behind one protocol (see ``base``)."""

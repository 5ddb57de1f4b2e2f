"""Planning: the graph, the recorded state and what is live, diffed into a Plan (a value).

``model`` holds the Plan, ``release`` plans a release, ``rollback`` the way back to a
rollback point (a mode of the same plan), ``file`` reads and checks a saved plan."""

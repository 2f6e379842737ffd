"""`counterflow demo`: a whole federation on one machine, driven through the real CLI.

Nothing here imports `hub` or `node`: the demo writes files and runs the
`counterflow` command as subprocesses, exactly as partners and the hub
operator would, so it exercises the product rather than a shortcut around it.
"""

"""What the tests and the bench both need: a free port, a fresh PostGIS database and a
live server process (started, waited for until it answers, stopped).

Nothing here imports pytest: the bench scripts use these modules too.
"""

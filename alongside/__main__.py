"""`python -m alongside`: the same as the `alongside` console script."""

from alongside.app import main

main()

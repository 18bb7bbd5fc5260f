.PHONY: demo test check bench serve
demo:            ## install, then run the main job on the shipped example
	./scripts/demo
test:            ## install, then every check and the whole test suite (SQLite and PostgreSQL)
	./scripts/test
check:           ## static checks only
	./scripts/bootstrap && ./scripts/check
bench:           ## the country-scale benchmark (issue 5)
	./scripts/bootstrap && .venv/bin/python -m benchmarks.run

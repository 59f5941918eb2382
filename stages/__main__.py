from strata.cli import app

app(prog_name="strata")

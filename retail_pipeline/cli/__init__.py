"""`retail-pipeline`: the command line of the project (sample data, uploads, runs, models)."""

import typer

from retail_pipeline.cli import doctor, ingest, models, run, sample

app = typer.Typer(help="Retail pipeline: sample data, file checks and ingestion, runs, models.",
                  no_args_is_help=True, add_completion=False)
for module in (sample, ingest, run, models, doctor):
    module.register(app)

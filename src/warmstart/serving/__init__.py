"""`warmstart serve`: an HTTP JSON API over a model folder (predictor.py has no HTTP; app.py is FastAPI)."""

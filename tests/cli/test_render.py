"""What the progress bar says (services/cli/render.py)."""
from services.cli import render


def test_the_bar_summary_counts_what_the_model_added_in_singular_and_plural():
    assert render.counts_text({}, "queued") == "queued: 0 recipes, 0 ingredients, 0 steps"
    assert render.counts_text({"recipe": 1, "ingredient": 19, "step": 9}, "completed") == \
        "completed: 1 recipe, 19 ingredients, 9 steps"

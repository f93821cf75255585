"""The web page in a real browser (Debian's Chromium) against the whole running system.

Screenshots are kept under artifacts/web/ (tests/support/browser.py: ARTIFACTS).
"""
import json

import pytest
from playwright.sync_api import expect

from services.cli.__main__ import SEED_INSTRUCTIONS, SEED_PROMPT
from services.emulator.recipes import seed_recipe
from tests.support.browser import artifact
from tests.support.system import System

# Every item added to the live lists, with when it appeared (set before the page's own script runs).
RECORD_APPEARANCES = """
window.appeared = [];
document.addEventListener("DOMContentLoaded", () => {
  new MutationObserver((records) => {
    for (const record of records) for (const node of record.addedNodes) {
      const list = node.parentElement && node.parentElement.id;
      if (node.nodeName === "LI" && (list === "live-ingredients" || list === "live-steps")) {
        window.appeared.push({list, text: node.textContent, at: performance.now()});
      }
    }
  }).observe(document.body, {childList: true, subtree: true});
});
"""


@pytest.fixture
def paced_system(service_env, start_service) -> System:
    """The system with the model writing its arguments at 200 tokens/s: a turn takes seconds, as for real."""
    return System(env={**service_env, "MODEL_BACKEND": "responses"}, start_service=start_service,
                  emulator_args=("--tokens-per-second", "200")).start_all()


def test_the_seed_is_written_live_in_the_model_s_order_then_opened_and_found(paced_system, page):
    seed = seed_recipe()
    page.add_init_script(RECORD_APPEARANCES)
    page.goto(paced_system.gateway_url + "/")
    expect(page.get_by_role("heading", name="Ask for a recipe")).to_be_visible()

    # Keyboard only, by the fields' labels.
    page.get_by_label("What should the model cook?").fill(SEED_PROMPT)
    page.get_by_text("Instructions for the model (optional)").press("Enter")  # opens the <details>
    page.get_by_label("Instructions", exact=True).fill(SEED_INSTRUCTIONS)
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Generate")).to_be_focused()
    page.keyboard.press("Enter")

    live = page.locator("#live")
    expect(live.get_by_role("heading", name="Vegetarian Lasagne")).to_be_visible()
    expect(page.locator("#live-ingredients li").nth(4)).to_be_visible()
    page.screenshot(path=artifact("web/seed-writing.png"))  # mid-way, most likely (the model writes for seconds)
    expect(page.locator("#live-status")).to_contain_text("Completed. Yes chef!", timeout=90_000)
    expect(page.locator("#live-ingredients li")).to_have_count(19)
    expect(page.locator("#live-steps li")).to_have_count(9)
    page.screenshot(path=artifact("web/seed-live.png"), full_page=True)

    appeared = page.evaluate("window.appeared")
    ingredients = [a for a in appeared if a["list"] == "live-ingredients"]
    steps = [a for a in appeared if a["list"] == "live-steps"]
    assert [a["text"] for a in ingredients] == [f"{quantity} {name}" for name, quantity in seed.ingredients]
    assert [a["text"] for a in steps] == list(seed.steps)
    # Written as the model made them, one by one: not all at once when the generation ended.
    assert steps[-1]["at"] - ingredients[0]["at"] > 1000
    assert len({round(a["at"]) for a in ingredients + steps}) > 10

    page.get_by_role("link", name="Open the recipe: Vegetarian Lasagne").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Vegetarian Lasagne")
    expect(page).to_have_title("Vegetarian Lasagne · Recipes")
    expect(page.locator("#recipe-ingredients li")).to_have_count(19)
    expect(page.locator("#recipe-steps li")).to_have_text(list(seed.steps))
    assert page.locator("#recipe-steps li").evaluate_all("items => items.map(i => i.value)") == list(range(1, 10))
    expect(page.locator("#recipe-jsonld")).not_to_be_empty()
    jsonld = json.loads(page.locator("#recipe-jsonld").text_content())
    assert jsonld["@type"] == "Recipe" and jsonld["name"] == "Vegetarian Lasagne"
    assert len(jsonld["recipeIngredient"]) == 19 and len(jsonld["recipeInstructions"]) == 9
    page.screenshot(path=artifact("web/seed-recipe.png"), full_page=True)
    page.emulate_media(media="print")
    expect(page.locator("header.site")).to_be_hidden()
    expect(page.get_by_role("button", name="Print")).to_be_hidden()
    expect(page.locator("#recipe-steps")).to_be_visible()
    page.emulate_media(media="screen")

    page.get_by_role("link", name="All recipes").click()
    page.get_by_label("Words of the name").fill("lasagne")
    page.get_by_label("Ingredient").fill("mozzarella")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#recipe-list li")).to_have_count(1)
    expect(page.locator("#recipe-list").get_by_role("link", name="Vegetarian Lasagne")).to_be_visible()
    assert "q=lasagne" in page.url and "ingredient=mozzarella" in page.url
    page.get_by_label("Ingredient").fill("anchovies")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#recipes-summary")).to_have_text("No recipes matching the search yet.")


def test_a_failed_generation_shows_why(service_env, start_service, mongo_db, page):
    system = System(env=service_env, start_service=start_service, emulator_args=("--faults", "run_fail=1")).start_all()
    page.goto(system.gateway_url + "/")
    page.get_by_label("What should the model cook?").fill("A quick tomato soup")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#live-status")).to_have_text("Failed.", timeout=90_000)
    (failed,) = mongo_db.generations.find({"status": "failed"})
    assert failed["error"]["reason"]
    expect(page.locator("#live").get_by_role("alert")).to_have_text(failed["error"]["reason"])
    expect(page.locator("#live-title")).to_have_text("Not written")

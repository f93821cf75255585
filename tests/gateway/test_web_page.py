"""The web page (services/gateway/web.py) in Debian's Chromium, against a real gateway and MongoDB."""
from __future__ import annotations

import hashlib
import re

from playwright.sync_api import expect

from tests.gateway.documents import insert_generation, insert_recipe
from tests.support.browser import artifact

KEY = "web-page-key-1"


def _recipes(db, count: int) -> list[str]:
    generation_id = insert_generation(db, status="completed")
    return [insert_recipe(db, generation_id, f"soup_{n}", f"Soup number {n}", minutes=n,
                          ingredients=[("1 kg", "peas" if n % 2 else "leeks")], steps=["Boil.", "Serve."])
            for n in range(count)]


def test_the_page_and_its_files_come_from_the_gateway_alone(gateway):
    page = gateway.get("/")
    assert page.status_code == 200 and page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    for path in ("/static/app.js", "/static/app.css"):
        served = gateway.get(path)
        assert served.status_code == 200, path
        assert not re.search(r"https?://", served.text), f"{path} loads from another origin"
    assert not re.search(r"(src|href)=\"https?://", page.text)
    paths = gateway.get("/openapi.json").json()["paths"]
    assert "/" not in paths and "/recipes/{recipe_id}" not in paths  # pages for people, not the API


def test_search_and_pages_of_recipes(gateway, mongo_db, page):
    _recipes(mongo_db, 12)
    page.goto(gateway.url("/"))
    items = page.locator("#recipe-list li")
    expect(items).to_have_count(10)
    expect(items.first).to_contain_text("Soup number 11")  # newest first
    page.get_by_role("button", name="Older recipes").click()
    expect(items).to_have_count(2)
    expect(page.get_by_role("button", name="Older recipes")).to_be_hidden()
    page.get_by_role("button", name="Newer recipes").click()
    expect(items).to_have_count(10)
    page.get_by_label("Ingredient").fill("peas")
    page.get_by_label("Ingredient").press("Enter")
    expect(items).to_have_count(6)
    page.get_by_label("Words of the name").fill("number 4")
    page.get_by_label("Ingredient").fill("")
    page.get_by_role("button", name="Search").click()
    expect(items).to_have_count(1)
    expect(items.get_by_role("link")).to_have_text("Soup number 4")
    page.reload()  # the search is in the address
    expect(page.get_by_label("Words of the name")).to_have_value("number 4")
    expect(items).to_have_count(1)


def test_the_api_key_is_asked_for_once_and_kept_for_the_tab(launch_gateway, mongo_db, page, browser):
    gateway = launch_gateway(GATEWAY_API_KEYS=KEY)
    (recipe_id,) = _recipes(mongo_db, 1)
    mongo_db.recipes.update_one({"_id": recipe_id},
                                {"$set": {"owner": hashlib.sha256(KEY.encode()).hexdigest()[:16]}})
    page.goto(gateway.url("/"))
    key = page.get_by_label("API key")
    expect(key).to_be_focused()
    page.screenshot(path=artifact("web/api-key.png"))
    key.fill("not-the-key")
    key.press("Enter")
    expect(page.locator("#key-panel")).to_be_visible()  # refused: asked again
    assert key.evaluate("input => input.validationMessage") == "The gateway refused this key."
    key.fill(KEY)
    key.press("Enter")
    expect(page.locator("#key-panel")).to_be_hidden()
    expect(page.locator("#recipe-list").get_by_role("link")).to_have_text("Soup number 0")
    page.goto(gateway.url(f"/recipes/{recipe_id}"))  # the same tab: not asked again
    expect(page.get_by_role("heading", level=1)).to_have_text("Soup number 0")
    expect(page.locator("#key-panel")).to_be_hidden()
    page.get_by_role("button", name="Forget the API key").click()
    assert page.evaluate("sessionStorage.length") == 0
    other = browser.new_page()  # another browser session knows no key
    try:
        other.goto(gateway.url("/"))
        expect(other.get_by_label("API key")).to_be_visible()
    finally:
        other.close()


def test_an_unknown_recipe_shows_the_problem_s_detail(gateway, page):
    page.goto(gateway.url("/recipes/no-such-recipe"))
    expect(page.get_by_role("alert")).to_have_text("No recipe no-such-recipe.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Recipe not available")


def test_on_a_phone_nothing_is_wider_than_the_screen(gateway, mongo_db, browser):
    (recipe_id,) = _recipes(mongo_db, 1)
    phone = browser.new_context(viewport={"width": 360, "height": 740}, device_scale_factor=2, is_mobile=True,
                                has_touch=True)
    try:
        page = phone.new_page()
        for path in ("/", f"/recipes/{recipe_id}"):
            page.goto(gateway.url(path))
            expect(page.locator("#recipe-list li, #recipe-steps li").first).to_be_visible()
            assert page.evaluate("document.documentElement.scrollWidth") <= 360, path
        search = page.get_by_role("button", name="Search")
        page.goto(gateway.url("/"))
        box = search.bounding_box()
        assert box is not None and box["width"] > 300  # the search form stacks, full width
        page.screenshot(path=artifact("web/phone-home.png"), full_page=True)
    finally:
        phone.close()


def test_the_model_s_words_are_shown_as_text_never_run(gateway, mongo_db, page):
    hostile = '<img src=x onerror="window.ran=1">Soup'
    recipe_id = insert_recipe(mongo_db, insert_generation(mongo_db, status="completed"), "soup", hostile,
                              ingredients=[("1", "<b>leek</b>")], steps=['<script>window.ran=1</script>'])
    page.goto(gateway.url("/"))
    expect(page.locator("#recipe-list").get_by_role("link")).to_have_text(hostile)
    page.goto(gateway.url(f"/recipes/{recipe_id}"))
    expect(page.locator("#recipe-steps li")).to_have_text(["<script>window.ran=1</script>"])
    expect(page.locator("#recipe-ingredients li")).to_have_text(["1 <b>leek</b>"])
    assert page.evaluate("window.ran") is None and page.locator("#recipe img").count() == 0

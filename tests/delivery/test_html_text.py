"""The text part derived from an HTML e-mail: what a reader needs, nothing a browser uses."""

from delivery.html_text import html_to_text


def test_paragraphs_lists_and_links_are_kept():
    html = (
        "<h1>Welcome,&nbsp;Ada &amp; co</h1><p>Your   plan is <b>pro</b>.</p>"
        "<ul><li>One</li><li>Two</li></ul>"
        '<p><a href="https://acme.test/start">Start here</a> or '
        '<a href="https://acme.test/b">https://acme.test/b</a>, '
        '<a href="mailto:help@acme.test">write to us</a>.</p>'
    )

    assert html_to_text(html) == (
        "Welcome, Ada & co\n\nYour plan is pro.\n\n- One\n- Two\n\n"
        "Start here (https://acme.test/start) or https://acme.test/b, "
        "write to us (help@acme.test)."
    )


def test_styles_scripts_and_titles_are_dropped_even_in_an_unclosed_head():
    html = "<html><head><title>T</title><style>p {color: red}</style><body><p>Hello</p>"

    assert html_to_text(html) == "Hello"


def test_table_cells_stay_apart():
    html = (
        "<table><tr><th>Item</th><th>Price</th></tr><tr><td>Total</td><td>10.00</td></tr></table>"
    )

    assert html_to_text(html) == "Item Price\nTotal 10.00"


def test_images_say_their_alt_text_and_pixels_say_nothing():
    html = '<p><img src="logo.png" alt="Acme"> news</p><img src="pixel.gif" alt="">'

    assert html_to_text(html) == "Acme news"

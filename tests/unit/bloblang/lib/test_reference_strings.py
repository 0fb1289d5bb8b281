"""Benthos' reference for the "String Manipulation" methods: every documented example."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from streamforge.bloblang import parse, registry
from streamforge.bloblang.errors import MappingError

#: the methods Benthos (Redpanda Connect) lists under "String Manipulation"
REFERENCE_METHODS = [
    "capitalize", "compare_argon2", "compare_bcrypt", "escape_html", "escape_url_path",
    "escape_url_query", "filepath_join", "filepath_split", "format", "has_prefix",
    "has_suffix", "index_of", "length", "lowercase", "quote", "repeat", "replace",
    "replace_all", "replace_all_many", "replace_many", "reverse", "slice", "slug", "split",
    "strip_html", "trim", "trim_prefix", "trim_suffix", "unescape_html", "unescape_url_path",
    "unescape_url_query", "unicode_segments", "unquote", "uppercase",
]  # fmt: skip

_ARGON2 = (
    "$argon2id$v=19$m=4096,t=3,p=1$c2FsdHktbWNzYWx0ZmFjZQ$"
    "RMUMwgtS32/mbszd+ke4o4Ej1jFpYiUqY6MHWa69X7Y"
)
_BCRYPT = "$2y$10$Dtnt5NNzVtMCOZONT705tOcS8It6krJX8bEjnDJnwxiFKsz1C.3Ay"

#: (mapping, input payload, output payload) as the reference writes them
EXAMPLES: list[tuple[str, str, str]] = [
    ("root.title = this.title.capitalize()", '{"title":"the foo bar"}', '{"title":"The Foo Bar"}'),
    ("root.name = this.name.capitalize()", '{"name":"alice smith"}', '{"name":"Alice Smith"}'),
    (f'root.match = this.secret.compare_argon2("{_ARGON2}")',
     '{"secret":"there-are-many-blobs-in-the-sea"}', '{"match":true}'),
    (f'root.match = this.secret.compare_argon2("{_ARGON2}")',
     '{"secret":"will-i-ever-find-love"}', '{"match":false}'),
    (f'root.match = this.secret.compare_bcrypt("{_BCRYPT}")',
     '{"secret":"there-are-many-blobs-in-the-sea"}', '{"match":true}'),
    (f'root.match = this.secret.compare_bcrypt("{_BCRYPT}")',
     '{"secret":"will-i-ever-find-love"}', '{"match":false}'),
    ("root.escaped = this.value.escape_html()", '{"value":"foo & bar"}',
     '{"escaped":"foo &amp; bar"}'),
    ("root.safe_html = this.user_input.escape_html()",
     '{"user_input":"<script>alert(\'xss\')</script>"}',
     '{"safe_html":"&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;"}'),
    ("root.escaped = this.value.escape_url_path()", '{"value":"foo & bar"}',
     '{"escaped":"foo%20&%20bar"}'),
    ('root.url = "https://example.com/docs/" + this.path.escape_url_path()',
     '{"path":"my document.pdf"}', '{"url":"https://example.com/docs/my%20document.pdf"}'),
    ("root.escaped = this.value.escape_url_query()", '{"value":"foo & bar"}',
     '{"escaped":"foo+%26+bar"}'),
    ('root.url = "https://example.com?search=" + this.query.escape_url_query()',
     '{"query":"hello world!"}', '{"url":"https://example.com?search=hello+world%21"}'),
    ("root.path = this.path_elements.filepath_join()", '{"path_elements":["/foo/","bar.txt"]}',
     '{"path":"/foo/bar.txt"}'),
    ("root.path_sep = this.path.filepath_split()", '{"path":"/foo/bar.txt"}',
     '{"path_sep":["/foo/","bar.txt"]}'),
    ("root.path_sep = this.path.filepath_split()", '{"path":"baz.txt"}',
     '{"path_sep":["","baz.txt"]}'),
    ('root.foo = "%s(%v): %v".format(this.name, this.age, this.fingers)',
     '{"name":"lance","age":37,"fingers":13}', '{"foo":"lance(37): 13"}'),
    ('root.message = "User %s has %v points".format(this.username, this.score)',
     '{"username":"alice","score":100}', '{"message":"User alice has 100 points"}'),
    ('root.t1 = this.v1.has_prefix("foo")\nroot.t2 = this.v2.has_prefix("foo")',
     '{"v1":"foobar","v2":"barfoo"}', '{"t1":true,"t2":false}'),
    ('root.t1 = this.v1.has_suffix("foo")\nroot.t2 = this.v2.has_suffix("foo")',
     '{"v1":"foobar","v2":"barfoo"}', '{"t1":false,"t2":true}'),
    ('root.index = this.thing.index_of("bar")', '{"thing":"foobar"}', '{"index":3}'),
    ('root.index = content().index_of("meow")', "the cat meowed, the dog woofed", '{"index":8}'),
    ("root.foo_len = this.foo.length()", '{"foo":"hello world"}', '{"foo_len":11}'),
    ("root.foo_len = this.foo.length()", '{"foo":["first","second"]}', '{"foo_len":2}'),
    ("root.foo_len = this.foo.length()", '{"foo":{"first":"bar","second":"baz"}}',
     '{"foo_len":2}'),
    ("root.foo = this.foo.lowercase()", '{"foo":"HELLO WORLD"}', '{"foo":"hello world"}'),
    ("root.email = this.user_email.lowercase()", '{"user_email":"User@Example.COM"}',
     '{"email":"user@example.com"}'),
    ("root.quoted = this.thing.quote()", '{"thing":"foo\\nbar"}', '{"quoted":"\\"foo\\\\nbar\\""}'),
    ("root.literal = this.text.quote()", '{"text":"hello\\tworld"}',
     '{"literal":"\\"hello\\\\tworld\\""}'),
    ("root.repeated = this.name.repeat(3)\nroot.not_repeated = this.name.repeat(0)",
     '{"name":"bob"}', '{"not_repeated":"","repeated":"bobbobbob"}'),
    ('root.separator = "-".repeat(10)', "{}", '{"separator":"----------"}'),
    ('root.new_value = this.value.replace("foo","dog")', '{"value":"The foo ate my foo"}',
     '{"new_value":"The dog ate my dog"}'),
    ('root.new_value = this.value.replace_all("foo","dog")',
     '{"value":"The foo ate my homework"}', '{"new_value":"The dog ate my homework"}'),
    ('root.clean = this.text.replace_all("  ", " ")', '{"text":"hello  world  foo"}',
     '{"clean":"hello world foo"}'),
    ('root.new_value = this.value.replace_all_many([\n  "<b>", "&lt;b&gt;",\n  "</b>", '
     '"&lt;/b&gt;",\n  "<i>", "&lt;i&gt;",\n  "</i>", "&lt;/i&gt;",\n])',
     '{"value":"<i>Hello</i> <b>World</b>"}',
     '{"new_value":"&lt;i&gt;Hello&lt;/i&gt; &lt;b&gt;World&lt;/b&gt;"}'),
    ('root.new_value = this.value.replace_many(["a", "1", "b", "2"])', '{"value":"abba"}',
     '{"new_value":"1221"}'),
    ("root.reversed = this.thing.reverse()", '{"thing":"backwards"}',
     '{"reversed":"sdrawkcab"}'),
    ("root = content().reverse()", '{"thing":"backwards"}', '}"sdrawkcab":"gniht"{'),
    ("root.beginning = this.value.slice(0, 2)\nroot.end = this.value.slice(4)",
     '{"value":"foo bar"}', '{"beginning":"fo","end":"bar"}'),
    ("root.last_chunk = this.value.slice(-4)\nroot.the_rest = this.value.slice(0, -4)",
     '{"value":"foo bar"}', '{"last_chunk":" bar","the_rest":"foo"}'),
    ("root.beginning = this.value.slice(0, 2)\nroot.end = this.value.slice(4)",
     '{"value":["foo","bar","baz","buz","bev"]}', '{"beginning":["foo","bar"],"end":["bev"]}'),
    ("root.last_chunk = this.value.slice(-2)\nroot.the_rest = this.value.slice(0, -2)",
     '{"value":["foo","bar","baz","buz","bev"]}',
     '{"last_chunk":["buz","bev"],"the_rest":["foo","bar","baz"]}'),
    ("root.slug = this.value.slug()", '{"value":"Gopher & Benthos"}',
     '{"slug":"gopher-and-benthos"}'),
    ('root.slug = this.value.slug("fr")', '{"value":"Gaufre & Poisson d\'Eau Profonde"}',
     '{"slug":"gaufre-et-poisson-deau-profonde"}'),
    ("root.slug = this.title.slug()", '{"title":"Hello World! Welcome to Redpanda Connect"}',
     '{"slug":"hello-world-welcome-to-redpanda-connect"}'),
    ('root.slug = this.title.slug("fr")', '{"title":"Café & Restaurant"}',
     '{"slug":"cafe-et-restaurant"}'),
    ('root.new_value = this.value.split(",")', '{"value":"foo,bar,baz"}',
     '{"new_value":["foo","bar","baz"]}'),
    ('root.new_value = this.value.split(",", true)', '{"value":"foo,,qux"}',
     '{"new_value":["foo",null,"qux"]}'),
    ('root.words = this.sentence.split(" ")', '{"sentence":"hello world from bloblang"}',
     '{"words":["hello","world","from","bloblang"]}'),
    ("root.stripped = this.value.strip_html()",
     '{"value":"<p>the plain <strong>old text</strong></p>"}',
     '{"stripped":"the plain old text"}'),
    ('root.stripped = this.value.strip_html(["article"])',
     '{"value":"<article><p>the plain <strong>old text</strong></p></article>"}',
     '{"stripped":"<article>the plain old text</article>"}'),
    ("root.plain_text = this.html_content.strip_html()",
     '{"html_content":"<p>Welcome to <strong>Redpanda Connect</strong>!</p>"}',
     '{"plain_text":"Welcome to Redpanda Connect!"}'),
    ('root.sanitized = this.html.strip_html(["strong", "em"])',
     '{"html":"<div><p>Some <strong>bold</strong> and <em>italic</em> text with a '
     "<script>alert('xss')</script></p></div>\"}",
     '{"sanitized":"Some <strong>bold</strong> and <em>italic</em> text with a "}'),
    ('root.title = this.title.trim("!?")\nroot.description = this.description.trim()',
     '{"description":"  something happened and its amazing! ","title":"!!!watch out!?"}',
     '{"description":"something happened and its amazing!","title":"watch out"}'),
    ('root.name = this.name.trim_prefix("foobar_")\n'
     'root.description = this.description.trim_prefix("foobar_")',
     '{"description":"unchanged","name":"foobar_blobton"}',
     '{"description":"unchanged","name":"blobton"}'),
    ('root.name = this.name.trim_suffix("_foobar")\n'
     'root.description = this.description.trim_suffix("_foobar")',
     '{"description":"unchanged","name":"blobton_foobar"}',
     '{"description":"unchanged","name":"blobton"}'),
    ("root.unescaped = this.value.unescape_html()", '{"value":"foo &amp; bar"}',
     '{"unescaped":"foo & bar"}'),
    ("root.text = this.html.unescape_html()", '{"html":"&lt;p&gt;Hello &amp; goodbye&lt;/p&gt;"}',
     '{"text":"<p>Hello & goodbye</p>"}'),
    ("root.unescaped = this.value.unescape_url_path()", '{"value":"foo%20&%20bar"}',
     '{"unescaped":"foo & bar"}'),
    ("root.filename = this.path.unescape_url_path()", '{"path":"my%20document.pdf"}',
     '{"filename":"my document.pdf"}'),
    ("root.unescaped = this.value.unescape_url_query()", '{"value":"foo+%26+bar"}',
     '{"unescaped":"foo & bar"}'),
    ("root.search = this.param.unescape_url_query()", '{"param":"hello+world%21"}',
     '{"search":"hello world!"}'),
    ('root.sentences = this.text.unicode_segments("sentence")',
     '{"text":"Hello world. How are you?"}', '{"sentences":["Hello world. ","How are you?"]}'),
    ('root.graphemes = this.emoji.unicode_segments("grapheme")',
     '{"emoji":"\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466\u2764\ufe0f"}',
     '{"graphemes":["\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466",'
     '"\u2764\ufe0f"]}'),
    ("root.unquoted = this.thing.unquote()", '{"thing":"\\"foo\\\\nbar\\""}',
     '{"unquoted":"foo\\nbar"}'),
    ("root.text = this.literal.unquote()", '{"literal":"\\"hello\\\\tworld\\""}',
     '{"text":"hello\\tworld"}'),
    ("root.foo = this.foo.uppercase()", '{"foo":"hello world"}', '{"foo":"HELLO WORLD"}'),
    ("root.code = this.product_code.uppercase()", '{"product_code":"abc-123"}',
     '{"code":"ABC-123"}'),
]  # fmt: skip


@pytest.mark.parametrize(("mapping", "given", "expected"), EXAMPLES)
def test_documented_example(
    doc_example: Callable[[str, str, str], None], mapping: str, given: str, expected: str
) -> None:
    doc_example(mapping, given, expected)


def test_every_reference_method_is_registered() -> None:
    missing = [name for name in REFERENCE_METHODS if name not in registry.methods]
    assert missing == []


@pytest.mark.parametrize(
    ("mapping", "value", "message"),
    [
        ("root = this.uppercase()", 5, "expected string value, got number"),
        ('root = this.replace_all_many(["a"])', "abc", "pairs"),
        ('root = this.unicode_segments("paragraph")', "abc", "paragraph"),
    ],
)
def test_documented_errors(mapping: str, value: Any, message: str) -> None:
    with pytest.raises(MappingError, match=message):
        parse(mapping).query(value)


def test_split_takes_empty_as_null_by_name() -> None:
    mapping = 'root = this.split(delimiter: "/", empty_as_null: true)'
    assert parse(mapping).query("/a//b") == [None, "a", None, "b"]
    assert parse('root = this.split("/")').query("/a//b") == ["", "a", "", "b"]

"""Faust's word count, ported: posts -> words -> a count per word, on Record topics.

Faust's version splits posts into words in one agent and counts them in a table in
another. Here the words go through a Record topic, and ``group_by(Word.word, name=...)``
re-keys them through the internal topic ``words-by-word-repartition``, so every word is
counted by exactly one worker, however many run. (Tables are not in rxstreams yet: the
counts live in a dict of this process.)

    python examples/word_count.py                                 # the embedded broker
    BROKER=kafka://127.0.0.1:9092 python examples/word_count.py   # Kafka
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter

from rxstreams import App, Record, Stream

POSTS = [
    ("ada", "the quick brown fox"),
    ("bob", "the lazy dog"),
    ("ada", "the fox jumps over the lazy dog"),
    ("cy", "quick quick quick"),
]


class Post(Record):
    author: str
    text: str


class Word(Record):
    word: str
    author: str


app = App("word-count", broker=os.environ.get("BROKER", "memory://"), topic_partitions=4)
posts = app.topic("posts", key_type=str, value_type=Post)
words = app.topic("words", key_type=str, value_type=Word)
word_counts: Counter[str] = Counter()


@app.agent(posts)
async def shuffle_words(stream: Stream[Post]) -> None:
    """Split each post into words, keyed by author (not yet by word)."""
    async for post in stream:
        for word in post.text.split():
            await words.send(key=post.author, value=Word(word=word.lower(), author=post.author))


@app.agent(words)
async def count_words(stream: Stream[Word]) -> None:
    """Count each word: group_by re-keys the words by word through a repartition topic."""

    async def count(word: str, same_word: Stream[Word]) -> None:
        async for _ in same_word:
            word_counts[word] += 1

    await stream.group_by(Word.word, name="by-word").each(count)


async def main() -> None:
    for author, text in POSTS:
        await posts.send(key=author, value=Post(author=author, text=text))
    await app.run(until_idle=True, timeout=60)
    for word, n in sorted(word_counts.items(), key=lambda item: (-item[1], item[0])):
        print(f"{word:>6} {n}")


if __name__ == "__main__":
    asyncio.run(main())

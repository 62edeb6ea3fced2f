"""What the review use cases refuse, as domain errors; the platform answers each one as
problem+json from the class attributes (``zipbob_platform.problems.DomainError``)."""

from __future__ import annotations

from zipbob_platform.problems import PROBLEM_BASE, DomainError


class ProductNotFound(DomainError):
    status = 404
    type_ = PROBLEM_BASE + "not-found"

    def __init__(self, product_id: str) -> None:
        super().__init__(f"product {product_id} not found")
        self.product_id = product_id


class ReviewNotFound(DomainError):
    status = 404
    type_ = PROBLEM_BASE + "not-found"

    def __init__(self, review_id: str) -> None:
        super().__init__(f"review {review_id} not found")
        self.review_id = review_id


class DuplicateReview(DomainError):
    """The author already reviewed this product (the unique index said so)."""

    status = 409
    type_ = PROBLEM_BASE + "conflict"

    def __init__(self) -> None:
        super().__init__("you have already reviewed this product; edit that review instead")


class NotAllowed(DomainError):
    """The caller's role does not permit this."""

    status = 403
    type_ = PROBLEM_BASE + "forbidden"


class NotAuthor(NotAllowed):
    """Only the review's author (or, for deletes, an admin) may change it."""


class InvalidListing(DomainError):
    """A page deeper than offsets serve, or a cursor this listing did not issue."""

    status = 422
    type_ = PROBLEM_BASE + "validation"

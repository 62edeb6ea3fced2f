"""What the review API documents (SPEC 3): decorator arguments for reviews/views.py."""

from __future__ import annotations

from typing import Any

from zipbob_platform.openapi import HEADERS, errors, operation

from .schemas import RatingSummary, ReviewPage, ReviewRead

REVIEW_EXAMPLE: dict[str, Any] = {
    "id": "rv_01JEZ3K7W9T4M2Q8N5B6C1D0FA",
    "product_id": "3f2c8a1e-7b4d-4e0a-9c55-2d1f6b8e9a10",
    "author_id": "c4d5e6f7-a8b9-4c0d-8e1f-2a3b4c5d6e7f",
    "rating": 5,
    "title": "Beautiful grain",
    "body": "Arrived well packed; the finish is lovely.",
    "created_at": "2026-12-02T06:20:03.512000Z",
    "updated_at": "2026-12-02T06:20:03.512000Z",
}
_REVIEW_ID = {"review_id": "$response.body#/id"}
_PRODUCT_ID = {"product_id": "$request.path.product_id"}


def _json(model: type[Any], description: str, example: dict[str, Any]) -> dict[str, Any]:
    return {
        "model": model,
        "description": description,
        "content": {"application/json": {"example": example}},
    }


CREATE_REVIEW = operation(
    operation_id="createReview",
    summary="Review a product",
    description="One review per customer and product; edit it with PATCH afterwards.",
    roles=("customer",),
    ok={
        201: {
            **_json(ReviewRead, "The review; `Location` names it.", REVIEW_EXAMPLE),
            "headers": {"Location": HEADERS["Location"]},
            "links": {
                "GetReview": {"operationId": "getReview", "parameters": _REVIEW_ID},
                "UpdateReview": {"operationId": "updateReview", "parameters": _REVIEW_ID},
                "DeleteReview": {"operationId": "deleteReview", "parameters": _REVIEW_ID},
                "GetSummary": {"operationId": "getRatingSummary", "parameters": _PRODUCT_ID},
            },
        }
    },
    errors_=errors(
        401, 403, 422, 503,
        e404="No such product.",
        e409="You have already reviewed this product.",
    ),
)  # fmt: skip
LIST_REVIEWS = operation(
    operation_id="listReviews",
    summary="Reviews of a product",
    description="Deep pages: follow `next_cursor` (as `cursor`).",
    ok={200: {"model": ReviewPage, "description": "A page of reviews."}},
    errors_=errors(503, e422="A parameter is invalid (an unknown `cursor` too)."),
)
SUMMARY = operation(
    operation_id="getRatingSummary",
    summary="Rating summary of a product",
    ok={
        200: _json(
            RatingSummary,
            "Count, average and histogram of the ratings.",
            {"count": 2, "average": 4.5, "histogram": {"1": 0, "2": 0, "3": 0, "4": 1, "5": 1}},
        )
    },
    errors_=errors(422, 503),
)
GET_REVIEW = operation(
    operation_id="getReview",
    summary="Get a review",
    ok={200: _json(ReviewRead, "The review.", REVIEW_EXAMPLE)},
    errors_=errors(404, 422, 503),
)
UPDATE_REVIEW = operation(
    operation_id="updateReview",
    summary="Edit a review",
    description="Only its author. Send any of `rating`, `title`, `body`.",
    roles=(),
    ok={200: _json(ReviewRead, "The edited review.", REVIEW_EXAMPLE)},
    errors_=errors(401, 404, 422, 503, e403="Only the author may edit a review."),
)
DELETE_REVIEW = operation(
    operation_id="deleteReview",
    summary="Delete a review",
    description="Its author, or an admin.",
    roles=(),
    ok={204: {"description": "Deleted."}},
    errors_=errors(401, 404, 422, 503, e403="Only the author or an admin may delete it."),
)

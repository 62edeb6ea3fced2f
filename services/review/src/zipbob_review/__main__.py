from zipbob_platform.server import serve

from .main import create_app
from .settings import load_review_settings


def main() -> None:
    settings = load_review_settings()
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()

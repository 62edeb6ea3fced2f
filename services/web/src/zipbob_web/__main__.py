from zipbob_platform.server import serve
from zipbob_platform.settings import load_settings

from .main import create_app
from .settings import WebSettings


def main() -> None:
    settings = load_settings("web", WebSettings)
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()

import sys

from wss_service.doctor.cli import main

sys.exit(main())

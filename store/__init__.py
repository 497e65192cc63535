"""setpoint's storage layer: typed objects, the scheme, selectors, quantities and the watchable store.

``store`` is the bottom layer: it imports neither ``reconcile`` nor ``controllers``. Its public names are
re-exported here; ``store.models`` holds the typed kinds and ``store.manifests`` reads and writes YAML.
"""

from store.errors import AlreadyExists as AlreadyExists
from store.errors import BadRequest as BadRequest
from store.errors import Conflict as Conflict
from store.errors import Forbidden as Forbidden
from store.errors import Gone as Gone
from store.errors import InternalError as InternalError
from store.errors import Invalid as Invalid
from store.errors import MethodNotAllowed as MethodNotAllowed
from store.errors import NotFound as NotFound
from store.errors import StoreError as StoreError
from store.frozen import FrozenDict as FrozenDict
from store.interface import EventType as EventType
from store.interface import ListResult as ListResult
from store.interface import PropagationPolicy as PropagationPolicy
from store.interface import Store as Store
from store.interface import Watch as Watch
from store.interface import WatchEvent as WatchEvent
from store.memory import MemoryStore as MemoryStore
from store.models import LabelSelector as LabelSelector
from store.models import Object as Object
from store.quantity import Quantity as Quantity
from store.quantity import parse_quantity as parse_quantity
from store.scheme import KindInfo as KindInfo
from store.scheme import Scheme as Scheme
from store.selectors import FieldSelector as FieldSelector
from store.selectors import Selector as Selector
from store.selectors import parse_field_selector as parse_field_selector
from store.selectors import parse_selector as parse_selector
from store.validation import FieldError as FieldError

__all__ = [
    "AlreadyExists",
    "BadRequest",
    "Conflict",
    "EventType",
    "FieldError",
    "FieldSelector",
    "Forbidden",
    "FrozenDict",
    "Gone",
    "InternalError",
    "Invalid",
    "KindInfo",
    "LabelSelector",
    "ListResult",
    "MemoryStore",
    "MethodNotAllowed",
    "NotFound",
    "Object",
    "PropagationPolicy",
    "Quantity",
    "Scheme",
    "Selector",
    "Store",
    "StoreError",
    "Watch",
    "WatchEvent",
    "parse_field_selector",
    "parse_quantity",
    "parse_selector",
]

"""Python callables as tools a model can call: `ToolRegistry`, a `ToolRunnerPort`.

Whatever goes wrong with a tool call must reach the model as words it can act on, because
the model is the only one who can fix its own call. The original system sent failed tools'
results as empty strings and silently dropped unknown or invalid calls; here `run` never
raises for a call's failure and never returns an empty result: an unknown tool, arguments
that are not JSON, arguments that break the schema, an exception and a timeout each come
back as an error `ToolResult` that says what happened and what to send instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import enum
import functools
import inspect
import json
import re
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar, overload

import attrs

from application.tool_schema import parse_docstring, schema_for_function, validate
from domain.errors import ToolError
from domain.messages import ToolCall, ToolDefinition, ToolResult

__all__ = ["NO_OUTPUT", "RegisteredTool", "ToolRegistry"]

F = TypeVar("F", bound=Callable[..., Any])

NO_OUTPUT = "(no output)"
"""What the model sees when a tool returned nothing (``None`` or an empty string)."""

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_RAW_ARGUMENTS_SHOWN = 2000


@attrs.frozen(kw_only=True)
class RegisteredTool:
    """A tool as the registry keeps it.

    Attributes:
        definition: what the model is shown.
        function: the callable (sync functions run in a daemon thread of their own, so a
            blocking one never holds up cancellation or shutdown).
        timeout: seconds a call may take, or ``None`` for no limit.
        converters: per-argument conversions from JSON values (enum members).
    """

    definition: ToolDefinition
    function: Callable[..., Any]
    timeout: float | None = None
    converters: Mapping[str, Callable[[Any], Any]] = attrs.field(factory=dict)

    @property
    def is_async(self) -> bool:
        """Whether calling the function gives an awaitable to await."""
        function = self.function
        while isinstance(function, functools.partial):
            function = function.func
        return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(
            getattr(function, "__call__", None)  # noqa: B004 - async callable objects
        )


class _ToolTimedOutError(Exception):
    """The registry's own deadline for a call passed (not a `TimeoutError` the tool raised)."""


class ToolRegistry:
    """The tools of a runtime, by name; runs calls the model asked for.

    Args:
        default_timeout: seconds any call may take unless its tool says otherwise.
        max_output_chars: longer results are cut to this many characters (with a note), so
            one tool cannot fill the model's context; ``None`` keeps everything.
    """

    def __init__(
        self, *, default_timeout: float | None = None, max_output_chars: int | None = 100_000
    ) -> None:
        self._tools: dict[str, RegisteredTool] = {}
        self._default_timeout = default_timeout
        self._max_output_chars = max_output_chars

    def register(
        self,
        func: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> ToolDefinition:
        """Add a tool.

        Args:
            func: a sync or async callable; the model's arguments are passed by keyword.
            name: the tool's name (default: the function's name); ``^[A-Za-z0-9_-]{1,64}$``.
            description: what the tool does (default: the docstring's first paragraph).
            parameters: a JSON Schema object for the arguments (default: generated from the
                type hints, with per-argument descriptions from the docstring's ``Args:``).
            timeout: seconds a call may take (default: the registry's ``default_timeout``).

        Returns:
            The definition the model will be shown.

        Raises:
            ToolError: the name is invalid or taken, or the signature has no JSON form.
        """
        tool_name = name if name is not None else getattr(func, "__name__", "")
        if not _NAME.match(tool_name):
            raise ToolError(
                f"invalid tool name {tool_name!r}: use 1 to 64 letters, digits, '_' or '-' (pass name=)"
            )
        if tool_name in self._tools:
            raise ToolError(f"a tool named {tool_name!r} is already registered; pass another name=")
        if timeout is not None and timeout <= 0:
            raise ToolError(f"tool {tool_name!r}: timeout must be a number of seconds above 0")
        if not callable(func):
            raise ToolError(f"tool {tool_name!r}: {func!r} is not callable")
        converters: Mapping[str, Callable[[Any], Any]] = {}
        if parameters is None:
            schema, summary, converters = schema_for_function(func, tool_name=tool_name)
        else:
            if parameters.get("type", "object") != "object":
                raise ToolError(f"tool {tool_name!r}: parameters must be a JSON Schema of type 'object'")
            schema = {"type": "object", "properties": {}, **parameters}
            summary = parse_docstring(inspect.getdoc(func)).summary
        definition = ToolDefinition(
            name=tool_name, description=description if description is not None else summary, parameters=schema
        )
        self._tools[tool_name] = RegisteredTool(
            definition=definition,
            function=func,
            timeout=timeout if timeout is not None else self._default_timeout,
            converters=converters,
        )
        return definition

    @overload
    def tool(self, func: F) -> F: ...

    @overload
    def tool(
        self,
        *,
        name: str | None = None,
        description: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Callable[[F], F]: ...

    def tool(
        self,
        func: Callable[..., Any] | None = None,
        *,
        name: str | None = None,
        description: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Register the decorated function as a tool, with ``@registry.tool`` or ``@registry.tool(...)``.

        The function itself is returned unchanged, so it stays callable from Python.
        """

        def decorate(function: F) -> F:
            self.register(
                function, name=name, description=description, parameters=parameters, timeout=timeout
            )
            return function

        return decorate(func) if func is not None else decorate

    def names(self) -> tuple[str, ...]:
        """The registered tool names, in registration order."""
        return tuple(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def get(self, name: str) -> RegisteredTool:
        """The registered tool ``name``.

        Raises:
            ToolError: no such tool; the message lists the registered ones.
        """
        try:
            return self._tools[name]
        except KeyError:
            raise ToolError(f"unknown tool {name!r}; registered tools: {self._listing()}") from None

    def definitions(self, names: Sequence[str] | None = None) -> tuple[ToolDefinition, ...]:
        """The definitions of all tools, or of those named, in the order given.

        Raises:
            ToolError: a name is not registered.
        """
        if names is None:
            return tuple(tool.definition for tool in self._tools.values())
        return tuple(self.get(name).definition for name in dict.fromkeys(names))

    async def run(self, call: ToolCall) -> ToolResult:
        """Run one call; every failure becomes an error result the model can act on.

        Task cancellation is not a failure of the tool: it propagates.
        """
        tool = self._tools.get(call.name)
        if tool is None:
            return self._error(
                call,
                f"Error: there is no tool named {call.name!r}. Available tools: {self._listing()}. "
                "Call one of those, or answer without a tool.",
            )
        if call.parse_error is not None:
            raw = call.raw_arguments if call.raw_arguments is not None else ""
            if len(raw) > _RAW_ARGUMENTS_SHOWN:
                raw = raw[:_RAW_ARGUMENTS_SHOWN] + f"… ({len(raw) - _RAW_ARGUMENTS_SHOWN} more characters)"
            return self._error(
                call,
                f"Error: the arguments for {call.name!r} are not a valid JSON object ({call.parse_error}). "
                f"You sent: {raw}\nSend the arguments again as one JSON object matching the tool's schema.",
            )
        arguments, problems = validate(dict(call.arguments), tool.definition.parameters)
        if problems:
            schema = json.dumps(tool.definition.parameters, ensure_ascii=False)
            return self._error(
                call,
                f"Error: invalid arguments for {call.name!r}:\n- "
                + "\n- ".join(problems)
                + f"\nThe tool's parameters schema is: {schema}",
            )
        try:
            kwargs = {
                key: tool.converters[key](value) if key in tool.converters else value
                for key, value in arguments.items()
            }
            value = await self._call(tool, kwargs)
        except _ToolTimedOutError:
            return self._error(
                call,
                f"Error: tool {call.name!r} did not finish within {tool.timeout:g} seconds "
                "and was abandoned. Try a smaller request.",
            )
        except ToolError as exc:
            return self._error(call, f"Error: tool {call.name!r} failed: {exc}")
        except Exception as exc:
            detail = str(exc) or "no details"
            return self._error(call, f"Error: tool {call.name!r} raised {type(exc).__name__}: {detail}")
        return ToolResult(call_id=call.id, name=call.name, content=self._limit(_render(value)))

    async def _call(self, tool: RegisteredTool, kwargs: Mapping[str, Any]) -> Any:
        if tool.is_async:
            awaitable: Awaitable[Any] = tool.function(**kwargs)
        else:
            awaitable = _in_daemon_thread(functools.partial(tool.function, **kwargs))
        if tool.timeout is None:
            value = await awaitable
        else:
            # A sync tool that overruns keeps its daemon thread until it returns by itself;
            # the model is told at once and the run goes on.
            scope = asyncio.timeout(tool.timeout)
            try:
                async with scope:
                    value = await awaitable
            except TimeoutError:
                if scope.expired():  # our deadline, not a TimeoutError the tool itself raised
                    raise _ToolTimedOutError from None
                raise
        if inspect.isawaitable(value):  # a sync wrapper that returned a coroutine
            value = await value
        return value

    def _listing(self) -> str:
        return ", ".join(self._tools) or "(none)"

    def _error(self, call: ToolCall, message: str) -> ToolResult:
        return ToolResult(
            call_id=call.id, name=call.name or "unknown", content=self._limit(message), is_error=True
        )

    def _limit(self, text: str) -> str:
        limit = self._max_output_chars
        if limit is None or len(text) <= limit:
            return text
        return text[:limit] + f"\n… (output cut: {len(text) - limit} more characters)"


async def _in_daemon_thread(call: Callable[[], Any]) -> Any:
    """Run a blocking ``call`` in a daemon thread of its own and await its result.

    Not ``asyncio.to_thread``: the loop's default executor is joined when the loop shuts down
    (``asyncio.run`` waits for it), so a tool stuck in a blocking call would hold up Ctrl-C,
    a stop or a service's shutdown forever. Awaiting this is cancellable at once; the thread,
    if still running, is abandoned and cannot keep the process alive.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    context = contextvars.copy_context()

    def settle(error: BaseException | None, value: Any) -> None:
        if future.done():
            return  # cancelled meanwhile: nobody waits for this result
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)

    def work() -> None:
        try:
            value = context.run(call)
        except BaseException as exc:  # handed to the awaiting task, like to_thread does
            outcome: tuple[BaseException | None, Any] = (exc, None)
        else:
            outcome = (None, value)
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody is waiting
            loop.call_soon_threadsafe(settle, *outcome)

    threading.Thread(target=work, name="cw-tool", daemon=True).start()
    return await future


def _render(value: Any) -> str:
    """A tool's return value as the text the model reads."""
    if value is None:
        return NO_OUTPUT
    if isinstance(value, str):
        return value if value.strip() else NO_OUTPUT
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace") or NO_OUTPUT
    return json.dumps(value, ensure_ascii=False, default=_jsonable)


def _jsonable(value: Any) -> Any:
    if attrs.has(type(value)):
        return attrs.asdict(value)
    if hasattr(value, "__dataclass_fields__"):
        return {name: getattr(value, name) for name in value.__dataclass_fields__}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    return str(value)

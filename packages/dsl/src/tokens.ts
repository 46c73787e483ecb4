import { createToken, Lexer, type TokenType } from 'chevrotain';

/**
 * The .rnn tokens. Whitespace (newlines included) is insignificant: statements are
 * told apart by their first token, so a pipeline may span lines freely. Comments go
 * to their own group so the formatter can keep them.
 */
export const WhiteSpace = createToken({ name: 'WhiteSpace', pattern: /[ \t\r\n\f\v\u00a0\ufeff]+/, group: Lexer.SKIPPED });
export const Comment = createToken({ name: 'Comment', pattern: /#[^\n\r]*/, group: 'comments' });

/**
 * A run of characters no token starts with (`@`, `é`, emoji…): lexed as one token in its
 * own group, so a megabyte of them is one diagnostic at lexer speed rather than the
 * lexer's per-character recovery.
 */
const STRAY_AT = /[^A-Za-z0-9_ \t\r\n\f\v\u00a0\ufeff"#()[\]{},:.-]+/y;
export const Stray = createToken({
  name: 'Stray',
  pattern: {
    exec(text: string, offset: number) {
      STRAY_AT.lastIndex = offset;
      return STRAY_AT.exec(text);
    },
  },
  // The lexer's first-character index: every stray Latin-1 character, and one character of
  // each of its buckets above 255 (it files char code c > 255 under 255 + ⌊c / 255⌋).
  start_chars_hint: [
    ...Array.from({ length: 256 }, (_, c) => String.fromCharCode(c)).filter((ch) => new RegExp(STRAY_AT.source).test(ch)),
    ...Array.from({ length: 257 }, (_, b) => String.fromCharCode(Math.min(65535, 256 + b * 255))),
  ],
  line_breaks: false,
  group: 'stray',
});

/** Letters, digits and '_', with single '-' inside (`UR-LSTM`), never before '>' (`->`). */
export const Identifier = createToken({ name: 'Identifier', pattern: /[A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)*/, label: 'a name' });
/** `UR-`: a name ending in '-' that is no arrow; lexed whole so it is reported as one mistake. */
export const BadName = createToken({ name: 'BadName', pattern: /[A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)*-(?![>A-Za-z0-9_])/, label: 'a name' });
/** `x16`; `x1.5` lexes too so the checker can say what is wrong with it. `x16abc` stays a name. */
export const Repeat = createToken({ name: 'Repeat', pattern: /x[0-9]+(?:\.[0-9]+)?/, longer_alt: Identifier, label: "a repeat count like 'x4'" });

const keyword = (name: string, word: string) =>
  createToken({ name, pattern: new RegExp(word), longer_alt: Identifier, label: `'${word}'` });
export const Use = keyword('Use', 'use');
export const Input = keyword('Input', 'input');
export const Train = keyword('Train', 'train');
export const True = keyword('True', 'true');
export const False = keyword('False', 'false');
export const Null = keyword('Null', 'null');

export const NumberLiteral = createToken({ name: 'NumberLiteral', pattern: /-?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?/, label: 'a number' });
const NUMBER_AT = /-?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?/y;
const RUN_ON_AT = /[A-Za-z0-9_.]+/y;
/**
 * A number run into letters, '_' or a second '.' (`1_000`, `0x10`, `1e`, `1.2.3`): lexed
 * whole so it is one error, not three. A matcher, not a regex: the number must be the
 * longest one (a regex would backtrack `1e5` into `1` + `e5`).
 */
export const BadNumber = createToken({
  name: 'BadNumber',
  pattern: {
    exec(text: string, offset: number) {
      NUMBER_AT.lastIndex = offset;
      const n = NUMBER_AT.exec(text);
      if (!n) return null;
      RUN_ON_AT.lastIndex = offset + n[0].length;
      const rest = RUN_ON_AT.exec(text);
      return rest ? ([n[0] + rest[0]] as unknown as RegExpExecArray) : null;
    },
  },
  start_chars_hint: ['-', '.', ...'0123456789'],
  line_breaks: false,
  label: 'a number',
});
export const StringLiteral = createToken({ name: 'StringLiteral', pattern: /"(?:[^"\\\n\r]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/, label: 'a string' });
/** A string with no closing quote on its line: lexed so it can be reported as such. */
export const UnterminatedString = createToken({ name: 'UnterminatedString', pattern: /"(?:[^"\\\n\r]|\\.)*/, label: 'a string' });

export const Arrow = createToken({ name: 'Arrow', pattern: /->/, label: "'->'" });
export const LParen = createToken({ name: 'LParen', pattern: /\(/, label: "'('" });
export const RParen = createToken({ name: 'RParen', pattern: /\)/, label: "')'" });
export const LBracket = createToken({ name: 'LBracket', pattern: /\[/, label: "'['" });
export const RBracket = createToken({ name: 'RBracket', pattern: /]/, label: "']'" });
export const LBrace = createToken({ name: 'LBrace', pattern: /\{/, label: "'{'" });
export const RBrace = createToken({ name: 'RBrace', pattern: /}/, label: "'}'" });
export const Comma = createToken({ name: 'Comma', pattern: /,/, label: "','" });
export const Colon = createToken({ name: 'Colon', pattern: /:/, label: "':'" });

/** Order matters: keywords and repeat counts before names, complete strings before broken ones. */
export const allTokens: TokenType[] = [
  WhiteSpace, Comment, Arrow, BadNumber, NumberLiteral, StringLiteral, UnterminatedString,
  BadName, Use, Input, Train, True, False, Null, Repeat, Identifier,
  LParen, RParen, LBracket, RBracket, LBrace, RBrace, Comma, Colon, Stray,
];

export const lexer = new Lexer(allTokens, { positionTracking: 'full', ensureOptimizations: true });

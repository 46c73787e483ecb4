import { type CstNode, CstParser, EOF, type IParserErrorMessageProvider, type ParserMethod, type TokenType, tokenLabel } from 'chevrotain';
import { clip } from '@cellstack/core';
import * as T from './tokens.js';

const describeFound = (image: string | undefined) => (image ? `'${clip(image)}'` : 'the end of the file');

/** What each rule expects, in words, for "no viable alternative" errors. */
const expectedByRule: Record<string, string> = {
  statement: "'use', 'input', 'train' or a pipeline such as 'LSTM(64) -> last -> dense(10)'",
  value: 'a value (a number, "string", true, false, null, [list] or name)',
};

function firstTokens(paths: TokenType[][]): string {
  return [...new Set(paths.map((p) => tokenLabel(p[0])))].join(' or ');
}

/** Parser messages in plain words ("expected ')' but found 'x'"), not chevrotain's token dumps. */
const messages: IParserErrorMessageProvider = {
  buildMismatchTokenMessage: ({ expected, actual }) =>
    expected === EOF
      ? `unexpected ${describeFound(actual.image)}; expected ${expectedByRule.statement}`
      : `expected ${tokenLabel(expected)} but found ${describeFound(actual.image)}`,
  buildNotAllInputParsedMessage: ({ firstRedundant }) => `unexpected ${describeFound(firstRedundant.image)}; expected ${expectedByRule.statement}`,
  buildNoViableAltMessage: ({ expectedPathsPerAlt, actual, ruleName }) =>
    `expected ${expectedByRule[ruleName] ?? firstTokens(expectedPathsPerAlt.flat())} but found ${describeFound(actual[0]?.image)}`,
  buildEarlyExitMessage: ({ expectedIterationPaths, actual, ruleName }) =>
    `expected ${expectedByRule[ruleName] ?? firstTokens(expectedIterationPaths)} but found ${describeFound(actual[0]?.image)}`,
};

/**
 * The .rnn grammar, and nothing else (no actions): chevrotain builds a CST that
 * visitor.ts turns into the AST. Error recovery is on, so one pass reports every
 * syntax error it can get past. The EBNF is in the README.
 */
export class RnnParser extends CstParser {
  constructor() {
    super(T.allTokens, { recoveryEnabled: true, errorMessageProvider: messages, maxLookahead: 3 });
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- chevrotain's `$` idiom for grammar rules
    const $ = this;

    $.RULE('spec', () => {
      $.MANY(() => $.SUBRULE($.statement));
    });

    $.RULE('statement', () => {
      $.OR([
        { ALT: () => $.SUBRULE($.useDecl) },
        { ALT: () => $.SUBRULE($.inputDecl) },
        { ALT: () => $.SUBRULE($.trainBlock) },
        { ALT: () => $.SUBRULE($.pipeline) },
      ]);
    });

    // use "@cellstack/cell-nru"
    $.RULE('useDecl', () => {
      $.CONSUME(T.Use);
      $.CONSUME(T.StringLiteral);
    });

    // input [784, 1]   |   input int32 [100, 1]
    $.RULE('inputDecl', () => {
      $.CONSUME(T.Input);
      $.OPTION(() => $.CONSUME(T.Identifier, { LABEL: 'dtype' }));
      $.CONSUME(T.LBracket);
      $.OR([
        { ALT: () => $.CONSUME(T.NumberLiteral, { LABEL: 'timesteps' }) },
        { ALT: () => $.CONSUME(T.Null, { LABEL: 'timesteps' }) },
      ]);
      $.CONSUME(T.Comma);
      $.CONSUME2(T.NumberLiteral, { LABEL: 'features' });
      $.CONSUME(T.RBracket);
    });

    // STAR(64) x4 -> last -> dense(10)
    $.RULE('pipeline', () => {
      $.SUBRULE($.stage);
      $.MANY(() => {
        $.CONSUME(T.Arrow);
        $.SUBRULE2($.stage);
      });
    });

    $.RULE('stage', () => {
      $.CONSUME(T.Identifier);
      $.OPTION(() => $.SUBRULE($.argList));
      $.OPTION2(() => $.CONSUME(T.Repeat));
    });

    // (64, activation: softmax)
    $.RULE('argList', () => {
      $.CONSUME(T.LParen);
      $.OPTION(() => {
        $.SUBRULE($.arg);
        $.MANY(() => {
          $.CONSUME(T.Comma);
          $.SUBRULE2($.arg);
        });
      });
      $.CONSUME(T.RParen);
    });

    $.RULE('arg', () => {
      $.OR([
        {
          ALT: () => {
            $.CONSUME(T.Identifier, { LABEL: 'name' });
            $.CONSUME(T.Colon);
            $.SUBRULE($.value);
          },
        },
        { ALT: () => $.SUBRULE2($.value) },
      ]);
    });

    $.RULE('value', () => {
      $.OR([
        { ALT: () => $.CONSUME(T.NumberLiteral) },
        { ALT: () => $.CONSUME(T.StringLiteral) },
        { ALT: () => $.CONSUME(T.True) },
        { ALT: () => $.CONSUME(T.False) },
        { ALT: () => $.CONSUME(T.Null) },
        { ALT: () => $.SUBRULE($.array) },
        { ALT: () => $.SUBRULE($.call) },
      ]);
    });

    $.RULE('array', () => {
      $.CONSUME(T.LBracket);
      $.OPTION(() => {
        $.SUBRULE($.value);
        $.MANY(() => {
          $.CONSUME(T.Comma);
          $.SUBRULE2($.value);
        });
      });
      $.CONSUME(T.RBracket);
    });

    // softmax   |   adam(lr: 1e-3)
    $.RULE('call', () => {
      $.CONSUME(T.Identifier);
      $.OPTION(() => $.SUBRULE($.argList));
    });

    // train { task: copy(lag: 100)  batch: 10 }
    $.RULE('trainBlock', () => {
      $.CONSUME(T.Train);
      $.CONSUME(T.LBrace);
      $.MANY(() => {
        $.SUBRULE($.entry);
        $.OPTION(() => $.CONSUME(T.Comma));
      });
      $.CONSUME(T.RBrace);
    });

    $.RULE('entry', () => {
      $.CONSUME(T.Identifier);
      $.CONSUME(T.Colon);
      $.SUBRULE($.value);
    });

    this.performSelfAnalysis();
  }

  // Declared for the visitor and for typing; the bodies are the RULEs above.
  declare spec: ParserMethod<[], CstNode>;
  declare statement: ParserMethod<[], CstNode>;
  declare useDecl: ParserMethod<[], CstNode>;
  declare inputDecl: ParserMethod<[], CstNode>;
  declare pipeline: ParserMethod<[], CstNode>;
  declare stage: ParserMethod<[], CstNode>;
  declare argList: ParserMethod<[], CstNode>;
  declare arg: ParserMethod<[], CstNode>;
  declare value: ParserMethod<[], CstNode>;
  declare array: ParserMethod<[], CstNode>;
  declare call: ParserMethod<[], CstNode>;
  declare trainBlock: ParserMethod<[], CstNode>;
  declare entry: ParserMethod<[], CstNode>;
}

/** One shared parser instance (chevrotain parsers are reusable: set `input`, call a rule). */
export const parser = new RnnParser();

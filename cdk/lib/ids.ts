/**
 * Logical ids that do not depend on how the stack's code is grouped.
 *
 * The stack is composed of one construct per concern (API, queues, executors, journal,
 * monitoring). A construct normally adds its id to the logical id of everything under it, so
 * grouping the resources would have renamed every one of them: CloudFormation would then
 * create a new REST API (a new webhook URL for every TradingView alert), new tables (the
 * retained old ones keeping the idempotency records), and fail on the named queues and the
 * named Aurora cluster. A `Concern` is therefore left out of the path a logical id is made
 * from, so each resource keeps the id it had when it sat directly in the stack.
 */
import { Names, Stack } from 'aws-cdk-lib';
import { Construct, IConstruct } from 'constructs';

/** A construct grouping one concern's resources; its id is not part of their logical ids. */
export class Concern extends Construct {}

/** The construct ids from the stack (exclusive) down to `c`, concerns left out. */
export function pathWithinStack(c: IConstruct): string[] {
  const scopes = c.node.scopes;
  const start = scopes.indexOf(Stack.of(c));
  return scopes
    .slice(start + 1)
    .filter((s) => !(s instanceof Concern))
    .map((s) => s.node.id);
}

/**
 * CDK's own unique id (the scheme of logical ids and of `Names.uniqueId`) for a path of
 * construct ids, computed by CDK on a detached tree holding just that path.
 */
export function uniqueIdOf(components: readonly string[]): string {
  let scope = new Construct(undefined as any, '');
  for (const id of components) scope = new Construct(scope, id);
  return Names.uniqueId(scope);
}

/** `Names.uniqueId(c)` as it would be without the concern constructs. */
export function stableUniqueId(c: IConstruct): string {
  return uniqueIdOf(
    c.node.scopes
      .slice(1)
      .filter((s) => !(s instanceof Concern))
      .map((s) => s.node.id),
  );
}

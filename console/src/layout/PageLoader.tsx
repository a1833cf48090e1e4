import { Center, Loader } from "@mantine/core";

export function PageLoader() {
  return (
    <Center h="50vh">
      <Loader aria-label="Loading" />
    </Center>
  );
}
